print('judge')
